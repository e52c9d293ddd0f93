"""What the pipeline knows about its data: text, features, threads and splits."""
