"""The gallery: enrolment of consenting members, the FAISS index, SQLite persistence, ``Gallery.match``."""
