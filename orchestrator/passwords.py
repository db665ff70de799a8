"""Password rules (applied wherever a password is set: the web's user management and 修改密码, the CLI, the first admin).

At least ``MIN_LENGTH`` characters from at least three of four classes (upper case, lower case, digits, other), not
containing the user name, not one of the passwords every attacker tries first, and not the current password. Every
refusal is a sentence a person can act on (Chinese).
"""

from __future__ import annotations

import re
import secrets
import string

MIN_LENGTH = 10
MAX_LENGTH = 200  # argon2 would take any length; a 1 MB "password" is an attack on the hasher, not a password
MIN_CLASSES = 3

# The most common passwords (leaked-password lists) and their usual Chinese-agency variants, lower-cased. Anything
# here is refused whatever else it satisfies; the check also ignores case and a trailing run of digits/symbols.
_COMMON = """
123456 12345678 123456789 1234567890 12345678910 0123456789 1qaz2wsx 1qaz@wsx 1qaz2wsx3edc 1q2w3e4r 1q2w3e4r5t
qwerty qwertyuiop qwerty123 qwe123 qweasdzxc asdfghjkl zxcvbnm password password1 password123 passw0rd p@ssw0rd
p@ssword admin admin123 admin@123 administrator root root123 abc123 abc12345 abcd1234 aa123456 a123456 a1234567
a12345678 iloveyou welcome welcome1 letmein monkey dragon sunshine princess football baseball trustno1 master
changeme changeme123 test test123 test1234 guest 111111 11111111 000000 00000000 888888 88888888 666666 66666666
123123 123123123 654321 987654321 woaini woaini1314 5201314 zhang123 wang123 li123456 gov123456 gov@123456
zhengfu123 gongkai123 xinxigongkai admin888 huawei123 qq123456 12qwaszx 1234qwer qwer1234 asdf1234
zaq12wsx zaq1@wsx !qaz2wsx !qaz@wsx 1qaz@wsx3edc 1qaz!qaz 2wsx@wsx qazwsxedc qaz123456
"""
COMMON_PASSWORDS = frozenset(_COMMON.split())

_TRAILING = re.compile(r"[\d\W_]+$")


def classes(password: str) -> int:
    return sum((any(c.isupper() for c in password), any(c.islower() for c in password),
                any(c.isdigit() for c in password), any(not c.isalnum() for c in password)))


def problems(password: str, username: str = "", current_ok: bool = False) -> list[str]:
    """What is wrong with ``password`` for ``username`` (empty: acceptable). ``current_ok`` is True when the
    caller found that the password equals the current one."""
    if len(password) > MAX_LENGTH:
        return [f"密码过长（不超过 {MAX_LENGTH} 个字符）"]
    out: list[str] = []
    if len(password) < MIN_LENGTH:
        out.append(f"密码至少 {MIN_LENGTH} 个字符（当前 {len(password)} 个）")
    if classes(password) < MIN_CLASSES:
        out.append("密码须包含大写字母、小写字母、数字、其他符号四类中的至少三类")
    name = username.strip().lower()
    if name and len(name) >= 3 and name in password.lower():
        out.append("密码不能包含用户名")
    low = password.lower()
    if low in COMMON_PASSWORDS or _TRAILING.sub("", low) in COMMON_PASSWORDS:
        out.append("密码过于常见（在常用密码列表中），请换一个不易猜到的密码")
    if current_ok:
        out.append("新密码不能与当前密码相同")
    return out


def generate(length: int = 16) -> str:
    """A random password that satisfies the rules (the first admin's, printed once)."""
    alphabet = string.ascii_letters + string.digits + "-_.@#%"
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(length))
        if not problems(pw):
            return pw
