//! Secret detection.
