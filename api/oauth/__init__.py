"""OAuth flows: linking a customer's Spotify account (authorization code)."""
