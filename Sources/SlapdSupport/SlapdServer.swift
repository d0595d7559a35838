// slapd test harness (in progress).
import Foundation
