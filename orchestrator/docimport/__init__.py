"""Documents in: Word/WPS/PDF files and pasted HTML to the canonical body, with the 公文 parts recognised."""
