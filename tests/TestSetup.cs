global using NUnit.Framework;
global using Engine;
