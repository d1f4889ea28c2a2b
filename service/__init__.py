"""Put the model in front of people: the REST API, batch scoring and the CLI."""
