"""Server-side platform events: the second consumer of the click stream."""
