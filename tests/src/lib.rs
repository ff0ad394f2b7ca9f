//! Fixtures that start the real programs the system tests drive.
