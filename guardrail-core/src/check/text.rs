//! Checks every string argument for invisible and direction-changing characters.
