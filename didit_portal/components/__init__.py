"""Components shared by the portal's pages."""
