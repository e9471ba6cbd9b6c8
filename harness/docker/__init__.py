"""The Docker wing: engine and labels, the backend, images, the run's Toxiproxy container, logs."""
