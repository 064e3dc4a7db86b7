# localgene CNVkit workflow (being written)
