//! End-to-end: the sealed vault in the real window. (Being written.)
