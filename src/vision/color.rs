//! Colour names for RGB triples.
