"""AFM technique: electrochemical strain microscopy (ESM, DART or lock-in CRF) and conductive AFM."""
