"""Reflex states of the staff pages. :mod:`didit_portal.states.base` holds the shared access checks."""
