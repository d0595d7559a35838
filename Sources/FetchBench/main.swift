print("FetchBench: not built yet")
