"""Language models: preparing the embedded one, generation backends, loop guards."""
