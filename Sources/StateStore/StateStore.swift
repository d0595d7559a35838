// LMDB wrapper: see Environment.swift (in progress).
internal import CLMDB
