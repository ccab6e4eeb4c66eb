"""homeport doctor: walk every hop from a local service to the internet."""
