"""The model lifecycle: train the reference model, publish it to a store, fetch and verify it.

`model.manifest` and `model.errors` are imported by the serving app and must stay free of training
(scikit-learn) and cloud (azure) imports; everything else here is the data scientist's and the build's side.
"""
