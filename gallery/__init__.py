"""Gallery: enrolment, FAISS index and persistence of consenting members (next release)."""
