//! End-to-end: offline and back, and a captive portal, in the real window. (Being written.)
