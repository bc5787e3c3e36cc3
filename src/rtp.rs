//! RTP/RTCP headers and RFC 4733 telephone-events (to be written).
