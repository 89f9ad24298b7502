//! transcoder
