"""Models: ordinary nn.Modules (logistic regression, MLP, Bengio's NPLM, Kim's TextCNN) and the
Kneser-Ney n-gram model, which is counts rather than gradients. Import each from its own module."""
