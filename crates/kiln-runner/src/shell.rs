//! shell (in progress)
