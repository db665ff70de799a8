"""The disclosure catalog (主动公开目录): schema, importer, loader."""
