"""What a production `BETTER_AUTH_SECRET` must be: long, not a published placeholder, varied.

Anyone can sign HS256 tokens with a secret they know, so a value copied from an example, a
short one, or one made of a few characters or a repeated piece lets them act as any user.
The reasons name the rule broken, never the value.
"""

MIN_SECRET_BYTES = 32
MIN_DISTINCT_CHARACTERS = 8

# Values our own examples and docs have shown; copied as they are, they are public.
PUBLISHED_SECRETS = frozenset(
    {
        "replace-with-a-long-random-secret-of-32-or-more-characters",
        "better-auth-secret-12345678901234567890",
    }
)
# Words that mark a placeholder, looked for in the lowercased value with separators removed
# ("Replace_With ..." and "your-secret-here" alike).
PLACEHOLDER_MARKERS = (
    "changeme",
    "replacewith",
    "replaceme",
    "yoursecret",
    "placeholder",
    "secrethere",
    "notasecret",
    "example",
)

GENERATE_HINT = "generate one with `openssl rand -base64 32`"


def weak_secret_reason(secret: str) -> str | None:
    """Why `secret` is unfit for production (one line, without the value), or None."""
    size = len(secret.encode())
    if size < MIN_SECRET_BYTES:
        return f"is {size} bytes, under the {MIN_SECRET_BYTES} production needs"
    folded = "".join(character for character in secret.lower() if character.isalnum())
    if secret in PUBLISHED_SECRETS or any(marker in folded for marker in PLACEHOLDER_MARKERS):
        return "is a placeholder from an example, known to anyone"
    if len(set(secret)) < MIN_DISTINCT_CHARACTERS:
        return f"has fewer than {MIN_DISTINCT_CHARACTERS} distinct characters"
    if _is_repetition(secret):
        return "is one shorter piece repeated"
    return None


def _is_repetition(value: str) -> bool:
    """Whether `value` is some shorter string written out two or more times."""
    return (value + value).find(value, 1) < len(value)
