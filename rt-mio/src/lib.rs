//! weir-mio
