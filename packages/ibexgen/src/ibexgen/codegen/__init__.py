"""C code generation: integer IR (netir), buffer layout, packing per target, C emission, projects."""
