//! artifacts (in progress)
