"""The data layer: the schema, reading and validating files, the Instance, the generator."""
