"""Import stubs for running the official YOLOv7-seg code in place, without editing it.

The official tree imports plotting, logging and image packages at module level that a given
use of it never calls. `install_stubs(names)` answers imports of those packages (and any
submodule) with stub modules whose every attribute is another stub.
"""
import importlib.machinery
import sys
import types


class Stub(types.ModuleType):
    """A module whose every attribute is another stub: enough for imports that are never used."""

    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        child = Stub(f'{self.__name__}.{name}')
        setattr(self, name, child)
        return child

    def __call__(self, *args, **kwargs):
        return Stub(self.__name__ + '()')

    def __mro_entries__(self, bases):
        return (object,)

    def __iter__(self):
        return iter(())

    def __getitem__(self, key):
        return Stub(f'{self.__name__}[]')

    def __bool__(self):
        return False


class StubFinder:
    """Answers imports of the given top-level packages (and module prefixes) with stubs."""

    def __init__(self, names):
        self.names = tuple(names)

    def find_spec(self, fullname, path=None, target=None):
        if not any(fullname == n or fullname.startswith(n + '.') for n in self.names):
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        module = Stub(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def install_stubs(names):
    """Stub these packages (or dotted module prefixes such as `torch.utils.tensorboard`) for every later import."""
    sys.meta_path.insert(0, StubFinder(names))
