"""vidbw: colour to aesthetic black-and-white for whole films, and B&W archive footage to colour."""

__version__ = "0.1.0"
