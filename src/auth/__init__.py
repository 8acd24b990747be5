"""Who is calling: API keys, user tokens, callback signatures, and the identity they resolve to."""
