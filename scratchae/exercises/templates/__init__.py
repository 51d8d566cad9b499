"""Exercise templates: copied to a learner's file by `scratchae gradcheck --exercise NAME --init PATH`."""
