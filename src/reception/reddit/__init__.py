"""Reddit itself: the API client, extraction into batches, and pruning them."""
