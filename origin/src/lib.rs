//! The HTTP origin: serves segments and signed manifests (built in the origin issue).
