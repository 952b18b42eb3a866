"""What happens to stored data over its life: re-keying under a new ``PORTAL_SECRET_KEY`` (:mod:`.key_rotation`)."""
