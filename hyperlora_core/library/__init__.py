"""The identity library: saved identities (coefficients, embedding, thumbnail) tied to their checkpoint."""
