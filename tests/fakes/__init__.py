"""Local fakes of the external services (Salesforce, Spotify) that tests drive through the real clients."""
