// engine <command> [options]: the command-line face of the engine (commands and error policy in EngineCli).
return Cli.EngineCli.Run(args);
