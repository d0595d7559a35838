internal import CLDAP
