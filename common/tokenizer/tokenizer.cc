// Placeholder, implemented next.
