//! Analysis: windows from a store merged into a latency matrix per
//! geo x region x path x phase, with honest confidence.
