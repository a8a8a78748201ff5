"""chainrule.cnn: sentence classification with Kim (2014)'s convolutional network.

- ``CNNConfig`` (config.py): every setting, defaulting to Kim's (Adadelta rho=0.95, batch 50,
  dropout 0.5, max-norm 3, filters 3,4,5 x 100 maps, 25 epochs, 10% dev).
- ``train_textcnn`` (trainer.py): one training run (dev accuracy per epoch, test at the best dev
  epoch, checkpoints and resume); returns the ``TextClassifier`` it trained.
- ``TextClassifier`` (classifier.py): ``predict``, ``predict_proba``, ``evaluate``, ``save``/``load``.
- ``crossval.cross_validate``: k-fold cross-validation (mean +- std accuracy), resumable fold by fold.
- ``ngrams.top_ngrams``: the n-grams of a data set that activate each filter most.
- ``compare.compare``: the four embedding modes and a bag-of-n-grams baseline (baseline.py) on the
  same folds; ``compare.demo_run`` is a short version of it for ``make demo``.
- ``metrics``: accuracy, macro-F1, confusion matrix (text and PNG).
- ``data``: tokens (clitics split), ids, token feature channels, pretrained embedding matrices;
  ``sampler``: batches of similar-length sentences.

The model itself is ``chainrule.models.textcnn.TextCNN``; labelled data sets
are read by ``chainrule.datasets.labelled.load_labelled``.

Where this departs from Kim's code, and why: clitics are split as the
pretrained vectors expect (data.py); pretrained vectors are rescaled to
word2vec's scale, which Kim's settings assume (data.py); pooling ignores
padding, so batches of similar lengths cost less and a sentence's score does
not depend on its batch (models/textcnn.py, sampler.py).
"""
from .classifier import TextClassifier
from .config import CNNConfig
from .trainer import TrainResult, train_textcnn

__all__ = ["CNNConfig", "TextClassifier", "TrainResult", "train_textcnn"]
