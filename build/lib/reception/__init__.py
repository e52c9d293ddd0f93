"""Shared code of the Reddit comment-reception pipeline and its service."""
