"""What the service runs: the registered model, explanations, the inference thread, the prediction log."""
