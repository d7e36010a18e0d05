"""Language models: preparing the embedded one, and generation backends."""
